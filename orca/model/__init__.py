"""The ORCA target network: backbones (pretrained bodies), embedders, heads and their assembly."""
