import { loadSecretsConfig, startSecretsService } from '@asc/secrets';
import { runMain } from '@asc/service-kit';

runMain('secrets', () => startSecretsService(loadSecretsConfig()));
