"""The dashboard's services, free of any UI library: the job manager (background runs), sweeps, lessons
(lessons.py: the classic settings side by side, each judged by a rule), and exploring a trained model."""
