"""DeepChain: the framework-free protocol core (imports no Django)."""
