/**
 * Hand-labelled prompts for measuring the PII/PHI detectors (false negatives and false
 * positives). Every value is synthetic: test card numbers, example domains, documentation
 * IP ranges. `expect` lists each span a detector must find; negatives expect nothing.
 * Measured by `measureLabelledSet` (a unit test) and `tools/guardrails/eval-candidates.mjs`.
 */
export interface LabelledCase {
  text: string;
  expect: Array<{ detector: string; value: string }>;
}

export const LABELLED_SET: readonly LabelledCase[] = [
  { text: 'Please email jane.doe@example.com about the refund.', expect: [{ detector: 'email', value: 'jane.doe@example.com' }] },
  { text: 'Contact: BOB_SMITH+billing@mail.example.co.uk', expect: [{ detector: 'email', value: 'BOB_SMITH+billing@mail.example.co.uk' }] },
  { text: 'cc a.b-c@sub.example.org and x@example.io, thanks', expect: [{ detector: 'email', value: 'a.b-c@sub.example.org' }, { detector: 'email', value: 'x@example.io' }] },
  { text: 'my address is (first.last@example.com)', expect: [{ detector: 'email', value: 'first.last@example.com' }] },
  { text: 'Reply to support@example.net.', expect: [{ detector: 'email', value: 'support@example.net' }] },
  { text: 'Call me at (415) 555-0132 after 5pm', expect: [{ detector: 'phone', value: '(415) 555-0132' }] },
  { text: 'Phone: 415-555-0199', expect: [{ detector: 'phone', value: '415-555-0199' }] },
  { text: 'international +44 20 7946 0958 office', expect: [{ detector: 'phone', value: '+44 20 7946 0958' }] },
  { text: 'Mobile +1 415 555 0100.', expect: [{ detector: 'phone', value: '+1 415 555 0100' }] },
  { text: 'reach the clinic on +33 1 23 45 67 89', expect: [{ detector: 'phone', value: '+33 1 23 45 67 89' }] },
  { text: 'call 415.555.0147 tomorrow', expect: [{ detector: 'phone', value: '415.555.0147' }] },
  { text: 'German number +49 30 901820', expect: [{ detector: 'phone', value: '+49 30 901820' }] },
  { text: 'Patient SSN 123-45-6789 on file', expect: [{ detector: 'us_ssn', value: '123-45-6789' }] },
  { text: 'social security number: 219 09 9999', expect: [{ detector: 'us_ssn', value: '219 09 9999' }] },
  { text: 'SSN:078051120', expect: [{ detector: 'us_ssn', value: '078051120' }] },
  { text: 'her ssn is 536-22-1234.', expect: [{ detector: 'us_ssn', value: '536-22-1234' }] },
  { text: 'Card 4111 1111 1111 1111 exp 12/29', expect: [{ detector: 'credit_card', value: '4111 1111 1111 1111' }] },
  { text: 'charge 5500-0000-0000-0004 please', expect: [{ detector: 'credit_card', value: '5500-0000-0000-0004' }] },
  { text: 'amex 378282246310005', expect: [{ detector: 'credit_card', value: '378282246310005' }] },
  { text: 'visa:4012888888881881;', expect: [{ detector: 'credit_card', value: '4012888888881881' }] },
  { text: 'Discover 6011 1111 1111 1117 is mine', expect: [{ detector: 'credit_card', value: '6011 1111 1111 1117' }] },
  { text: 'Pay to DE89 3704 0044 0532 0130 00 by Friday', expect: [{ detector: 'iban', value: 'DE89 3704 0044 0532 0130 00' }] },
  { text: 'IBAN GB29NWBK60161331926819', expect: [{ detector: 'iban', value: 'GB29NWBK60161331926819' }] },
  { text: 'compte FR14 2004 1010 0505 0001 3M02 606', expect: [{ detector: 'iban', value: 'FR14 2004 1010 0505 0001 3M02 606' }] },
  { text: 'nl: NL91ABNA0417164300.', expect: [{ detector: 'iban', value: 'NL91ABNA0417164300' }] },
  { text: 'server at 192.0.2.44 is down', expect: [{ detector: 'ip_address', value: '192.0.2.44' }] },
  { text: 'from 203.0.113.7, then 198.51.100.255', expect: [{ detector: 'ip_address', value: '203.0.113.7' }, { detector: 'ip_address', value: '198.51.100.255' }] },
  { text: 'v6 host 2001:db8::8a2e:370:7334 answered', expect: [{ detector: 'ip_address', value: '2001:db8::8a2e:370:7334' }] },
  { text: 'loopback ::1 and fe80::1ff:fe23:4567:890a', expect: [{ detector: 'ip_address', value: '::1' }, { detector: 'ip_address', value: 'fe80::1ff:fe23:4567:890a' }] },
  { text: 'full 2001:0db8:85a3:0000:0000:8a2e:0370:7334', expect: [{ detector: 'ip_address', value: '2001:0db8:85a3:0000:0000:8a2e:0370:7334' }] },
  { text: 'DOB: 04/12/1987', expect: [{ detector: 'date_of_birth', value: '04/12/1987' }] },
  { text: 'date of birth 1990-07-23, allergies none', expect: [{ detector: 'date_of_birth', value: '1990-07-23' }] },
  { text: 'She was born on March 3, 1975 in Ohio', expect: [{ detector: 'date_of_birth', value: 'March 3, 1975' }] },
  { text: 'birthdate: 3 Mar 1975', expect: [{ detector: 'date_of_birth', value: '3 Mar 1975' }] },
  { text: 'd.o.b. 12.31.2001', expect: [{ detector: 'date_of_birth', value: '12.31.2001' }] },
  { text: 'MRN: 00482913 admitted', expect: [{ detector: 'medical_record_number', value: 'MRN: 00482913' }] },
  { text: 'mrn#7788991 follow-up', expect: [{ detector: 'medical_record_number', value: 'mrn#7788991' }] },
  { text: 'Medical record number 5512093', expect: [{ detector: 'medical_record_number', value: 'Medical record number 5512093' }] },
  { text: 'Patient John, SSN 123-45-6789, email john@example.com, card 4111111111111111', expect: [{ detector: 'us_ssn', value: '123-45-6789' }, { detector: 'email', value: 'john@example.com' }, { detector: 'credit_card', value: '4111111111111111' }] },
  { text: 'Call 415-555-0101 or write to ops@example.com from 192.0.2.1', expect: [{ detector: 'phone', value: '415-555-0101' }, { detector: 'email', value: 'ops@example.com' }, { detector: 'ip_address', value: '192.0.2.1' }] },
  { text: 'The meeting is on 2024-05-01 at 10:30:00 in room 12.', expect: [] },
  { text: 'Order #4111111111111112 shipped', expect: [] },
  { text: 'version 1.2.3.4567 released', expect: [] },
  { text: 'The ratio was 3/4 and the year 1999.', expect: [] },
  { text: 'SSN format is XXX-XX-XXXX, never 000-12-3456', expect: [] },
  { text: 'Use the @decorator syntax in TypeScript', expect: [] },
  { text: 'Call the function at line 415 with 555 retries', expect: [] },
  { text: 'Timestamp 12:30:45 and 23:59', expect: [] },
  { text: 'Invoice DE00 1234 5678 9012 3456 78 is not an IBAN', expect: [] },
  { text: 'Our revenue grew 12,345,678 dollars', expect: [] },
  { text: 'chmod 755 file && ls -la', expect: [] },
  { text: 'Product SKU 123-456-7890-ABC', expect: [] },
  { text: 'The IP field is empty: 999.999.1.1', expect: [] },
  { text: 'Ship by 12/31/2025 please', expect: [] },
  { text: 'Tracking 1Z999AA10123456784', expect: [] },
];
