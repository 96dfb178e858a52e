"""What Jupyter shows: ``digitlab.show`` grids, rich reprs of results and readings, a progress bar for notebooks."""
