"""First-party image-text hashing methods, registered through the ``hashbench.methods`` entry
points exactly as a third-party method would be."""
