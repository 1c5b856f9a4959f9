//! Ready-made config loaders (static keyring, closures).
