from qandu.cli import main

main()
