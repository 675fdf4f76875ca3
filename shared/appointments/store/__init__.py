"""DynamoDB (and SQS) adapters of the appointments package."""
