console.log('cxr');
