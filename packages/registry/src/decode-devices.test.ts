import { decodeDevices, devicesIn } from './devices';
import { decodeEntries, encodeToken } from './entries';

// decodeDevices is the worker's fast read path: it must give exactly what the entry decoder gives.
const APP = '39JSDKGJ38.de.cospace.app';
const hex = (i: number) => i.toString(16).padStart(2, '0').repeat(32);

const LINES = [
  `=a,1f,${(5).toString(36)},${APP};0;,${encodeToken('apns', hex(1))}`,
  `=a,2,${(3).toString(36)},${APP};1;de.cospace.app.voip,${encodeToken('apns', hex(2))}`,
  `=a,3,${(3).toString(36)},${APP};1;,!not-hex-token`,
  `+a,9,${(1).toString(36)},${APP};0;,${encodeToken('apns', hex(3))}`, // pending: never read
  `=g,4,${(2).toString(36)},,gcm-id:APA91b-x`,
  `=g,5,${(1).toString(36)},,gcm,with,commas`,
  `+g,6,${(0).toString(36)},,gcm-pending`,
  `=a,7,zz,${APP};0;;extra;parts,${encodeToken('apns', hex(4))}`,
  '=a,8,1,only-three-fields',
  '=x,1,1,,token',
  '=g,1,1,,tok\ren',
  '=g,1,1,\r,token-after-cr-in-extra',
  '=g,1,1,,tok\u2028en',
  '',
  'garbage',
  '=a',
  '=g,,,,',
];

test.each(['apns', 'gcm'] as const)('decodeDevices(%s) equals devicesIn(decodeEntries()) on every mix of lines', (system) => {
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  for (let n = 0; n < 500; n++) {
    const lines = Array.from({ length: Math.floor(rnd() * 8) }, () => LINES[Math.floor(rnd() * LINES.length)]);
    const blob = lines.join('\n') + (rnd() < 0.2 ? '\n' : '');
    expect(decodeDevices(blob, system)).toStrictEqual(devicesIn(decodeEntries(blob), system));
  }
  expect(decodeDevices(null, system)).toEqual([]);
  expect(decodeDevices('', system)).toEqual([]);
});
