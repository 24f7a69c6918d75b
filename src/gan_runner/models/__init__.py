"""Generator and discriminator networks. Each `cfg.model` option's `_target_` is a `build`
function taking the data shape and returning `(G, D)`: G maps z of shape (n, z_dim) to samples,
D maps samples to one raw output (a logit) per sample."""
