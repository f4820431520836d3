"""mistral-lab's RPC fault hook, loaded into every Python process of the Mistral image by a .pth file.

`boot` (imported by the .pth) only registers an import hook; `hook` wraps oslo.messaging when Mistral imports it
and does nothing unless a rule file exists (`rules` parses it). See hook.py for the hook point and the rule format.
"""
