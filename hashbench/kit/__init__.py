"""The plugin kit: the building blocks a plugin may use beside the contract (``hashbench.api``).

``attack_kit`` (query batches, ranking oracles, transfer and square-search helpers, the budget
parameters every attack shares), ``defense_kit`` (the training parameters every defense
shares), ``training`` (the training loop), ``optim`` (projected descent and tanh schedules),
``apgd``, ``retrieval_objective`` (the AP an attack descends), ``codes`` (center and mainstay
codes), ``prototypes`` (PrototypeNet), ``params`` (parameter validation) and ``seeding``
(generators scoped by what they draw for). Their training numerics are declared by
``hashbench.MODEL_CODE_VERSION`` (docs/versions.md).
"""
