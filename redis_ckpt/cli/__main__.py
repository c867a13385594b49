from redis_ckpt.cli import main

main()
