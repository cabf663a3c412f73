/** The error a CLI command reports for a refused request: the status and the `error` of InfluxDB's JSON body. */
export const serverError = (status: number, text: string): Error => {
  let message = text
  try {
    message = (JSON.parse(text) as { error?: string }).error ?? text
  } catch {
    // Not JSON: the text itself says it.
  }
  return new Error(`the server answered ${status}: ${message}`)
}
