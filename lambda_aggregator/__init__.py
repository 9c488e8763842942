"""S3 objects of aggTrade lines -> exact per-minute rows: the Lambda, its core and its store."""
