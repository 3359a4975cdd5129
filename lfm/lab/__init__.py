"""The dashboard's services, free of any UI library: the job manager (background runs), sweeps, and
exploring a trained model."""
