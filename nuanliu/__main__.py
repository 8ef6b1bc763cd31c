from nuanliu.cli import main

main()
