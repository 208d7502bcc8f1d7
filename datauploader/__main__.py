from datauploader.cli.main import run

run()
