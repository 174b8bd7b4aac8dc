"""GPU trainers: a DCGAN for face crops and a tag-conditioned pix2pix colorizer of line art."""
