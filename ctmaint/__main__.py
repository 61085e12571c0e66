from ctmaint.cli import main

main()
