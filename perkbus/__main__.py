from perkbus.cli import main

raise SystemExit(main())
