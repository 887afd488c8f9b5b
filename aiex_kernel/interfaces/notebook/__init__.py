"""The notebook surfaces: the ``%aiex`` / ``%%aiex`` magics, slash cells and the aiex Jupyter kernel."""
