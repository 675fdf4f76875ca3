"""DynamoDB adapters. They map ClientError codes to domain exceptions and encrypt PHI before writing."""
