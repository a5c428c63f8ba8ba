"""Tasks of a module that is not an app's tasks module: run only when given to --job-modules."""

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task


@task
def multiply(a, b):
    return a * b
