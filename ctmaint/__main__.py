from ctmaint.cli.commands import main

main()
