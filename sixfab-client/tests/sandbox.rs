//! A Sixfab asset's whole life against the local sandbox.
