"""The lab's witness action pack (installed into the mistral image through the mistral.actions entry point)."""
