from ctmaint.cli.main import main

main()
