import sys

from motivnet_serve.cli.main import main

sys.exit(main())
