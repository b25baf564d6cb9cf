from srkd.cli import main

main(prog_name="srkd")
