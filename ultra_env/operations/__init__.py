"""What changes the machine: the project's files, templates, plans, the stack, images, models."""
