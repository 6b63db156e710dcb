"""Datasets: read sources (folders, zips, CelebA, LSUN, CIFAR-10, builtin sets), transform them, write
and read training archives (the stylegan2-ada-pytorch layout), and the torch Dataset."""
