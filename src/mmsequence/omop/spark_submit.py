"""The file to give ``spark-submit``: runs :func:`mmsequence.omop.spark.main` (a plain script, so
absolute imports)."""

import sys

from mmsequence.omop.spark import main

if __name__ == "__main__":
    sys.exit(main())
