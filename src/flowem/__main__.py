from flowem.cli import main

raise SystemExit(main())
