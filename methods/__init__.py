"""First-party hashing methods, image (DPSH, DPH, HashNet, CSQ) and image-text (DCMH, SSAH,
RMSH), registered through the ``hashbench.methods`` entry points exactly as a third-party method
would be."""
