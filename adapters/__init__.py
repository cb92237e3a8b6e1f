"""Network adapters. Each module is one network; ``base`` is the contract, ``shared`` the rules
every network shares. Built-in adapters register through the ``publisher.adapters`` entry-point
group exactly as a third-party package would."""
