"""``python -m zoo_core ...`` is ``zoo ...`` (what torchrun starts: ``torchrun ... -m zoo_core
run RECIPE``)."""

from zoo_core.cli import main

if __name__ == "__main__":
    main()
