"""stub"""


def run_benchmark(settings):
    return []
