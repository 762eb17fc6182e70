import sys

from bench.cost.report import main

sys.exit(main())
