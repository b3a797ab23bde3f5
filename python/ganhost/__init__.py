"""ganhost's Python side: the GAN, its training loop, datasets and the SavedModel export."""
