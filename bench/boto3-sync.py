# The boto3 baseline of bench/sync.js: download_file to a temp file, SHA-256
# of the file with hashlib, compare, os.rename into place. Credentials and
# region come from the environment (bench/lib.js S3_ENV); path-style addressing.
#   python3 bench/boto3-sync.py ENDPOINT BUCKET KEY SHA256 DIRECTORY
import hashlib
import os
import sys

import boto3
from botocore.config import Config

endpoint, bucket, key, expected, directory = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
temp = os.path.join(directory, "tmp")
s3.download_file(bucket, key, temp)
digest = hashlib.sha256()
with open(temp, "rb") as file:
    while chunk := file.read(1024 * 1024):
        digest.update(chunk)
if digest.hexdigest() != expected:
    sys.exit(f"sha256 mismatch: {digest.hexdigest()} != {expected}")
os.rename(temp, os.path.join(directory, "site.db"))
