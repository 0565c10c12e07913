"""One module per MLproject entry point (`train_sklearn` -> `entrypoints/train_sklearn.py`)."""
