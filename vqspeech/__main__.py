from vqspeech.cli import main

main()
