"""Folder to list in ``nnUNet_extTrainer``; nnU-Net imports the trainer module in it."""
