"""The example files that run as shipped (README.md here): installed as
`smetslab.configs`, read with `importlib.resources` (`smetslab.configs_dir`), and copied
into a new lab folder by `smetslab init`."""
