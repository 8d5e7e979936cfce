declare namespace Cloudflare {
  interface Env {
    /** Base URL of the webhook receiver that test/receiver.ts runs on 127.0.0.1. */
    RECEIVER_URL: string;
  }
}
