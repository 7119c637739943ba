// The myVaillant API's base URL, on its own so that the options (loaded in every process) can name
// it as their default without loading the API client and, through it, got.
export const API_URL = 'https://api.vaillant-group.com/service-connected-control/end-user-app-api/v1';
