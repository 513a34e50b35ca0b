from yolo_probs.cli import run

run()
